// Starts Swagger UI (from drf-spectacular-sidecar, served by Watchfloor) on the API docs page.
// Writes made from "Try it out" with the browser session carry the page's CSRF token.
(function () {
  const settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  const csrfToken = document.body.dataset.csrfToken;
  settings.dom_id = "#swagger-ui";
  settings.presets = [SwaggerUIBundle.presets.apis];
  if (csrfToken) {
    settings.requestInterceptor = (request) => {
      request.headers["X-CSRFToken"] = csrfToken;
      return request;
    };
  }
  SwaggerUIBundle(settings);
})();
