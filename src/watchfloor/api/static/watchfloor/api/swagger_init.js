// Starts Swagger UI (from drf-spectacular-sidecar, served by Watchfloor) on the API docs page.
// Writes made from "Try it out" with the browser session carry the page's CSRF token.
(function () {
  "use strict";

  // Every operation in the page, not a window of them. Swagger UI 5 virtualizes its operations
  // list once tags + shown operations reach 150 (Watchfloor's spec has ~180): only what is in
  // the viewport (~12 operations) is in the DOM, so the browser's find, printing and a reader
  // scanning the page see a dozen operations. This component is Swagger UI's own rendering for
  // lists under that size (its OperationTag and OperationContainer per operation), used at any
  // size: 160 collapsed operations are a few hundred elements (docs/decisions.md, "API docs").
  function AllOperations(props) {
    const { specSelectors, getComponent, oas3Selectors, layoutSelectors, layoutActions, getConfigs } =
      props;
    const h = props.React.createElement;
    const tagged = specSelectors.taggedOperations();
    const methods = specSelectors.validOperationMethods();
    if (tagged.size === 0) {
      return h("h3", null, " No operations defined in spec!");
    }
    const OperationContainer = getComponent("OperationContainer", true);
    const OperationTag = getComponent("OperationTag");
    const specUrl = specSelectors.url();
    return h(
      "div",
      null,
      tagged
        .map((tagObj, tag) =>
          h(
            OperationTag,
            {
              key: "operation-" + tag,
              tagObj,
              tag,
              oas3Selectors,
              layoutSelectors,
              layoutActions,
              getConfigs,
              getComponent,
              specUrl,
            },
            h(
              "div",
              { className: "operation-tag-content" },
              tagObj
                .get("operations")
                .map((op) => {
                  const path = op.get("path");
                  const method = op.get("method");
                  if (methods.indexOf(method) === -1) return null;
                  return h(OperationContainer, {
                    key: `${path}-${method}`,
                    specPath: op.get("specPath"),
                    op,
                    path,
                    method,
                    tag,
                  });
                })
                .toArray(),
            ),
          ),
        )
        .valueSeq()
        .toArray(),
    );
  }

  function renderEveryOperation(system) {
    const Operations = (props) => AllOperations({ ...props, React: system.React });
    return { components: { operations: Operations } };
  }

  const settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  const csrfToken = document.body.dataset.csrfToken;
  settings.dom_id = "#swagger-ui";
  settings.presets = [SwaggerUIBundle.presets.apis];
  settings.plugins = [renderEveryOperation];
  if (csrfToken) {
    settings.requestInterceptor = (request) => {
      request.headers["X-CSRFToken"] = csrfToken;
      return request;
    };
  }
  SwaggerUIBundle(settings);
})();
