import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from watchfloor.snapshots.models import DEFAULTS, KINDS, RetentionPolicy, problems
from watchfloor.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def test_defaults_keep_audit_longest():
    assert problems(DEFAULTS) == {}
    assert DEFAULTS["audit_days"] == max(DEFAULTS.values())


def test_bounds_and_audit_longest_name_the_field():
    assert set(problems({**DEFAULTS, "deliveries_days": 1})) == {"deliveries_days"}
    assert set(problems({**DEFAULTS, "resolved_alerts_days": 10**9})) == {"resolved_alerts_days"}
    errors = problems({**DEFAULTS, "audit_days": 400, "resolved_alerts_days": 500})
    assert set(errors) == {"audit_days"} and "500" in errors["audit_days"]
    for kind in KINDS:
        assert problems({**DEFAULTS, kind.field: kind.minimum - 1}).get(kind.field)


def test_one_policy_per_tenant_and_the_database_keeps_audit_longest():
    tenant = Tenant.objects.create(slug="t1", name="T1")
    policy = RetentionPolicy.objects.create(tenant=tenant)
    with pytest.raises(ValidationError):
        RetentionPolicy(tenant=tenant, audit_days=30, resolved_alerts_days=60).clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        RetentionPolicy.objects.create(tenant=tenant)
    with transaction.atomic(), pytest.raises(IntegrityError):
        RetentionPolicy.objects.filter(pk=policy.pk).update(audit_days=30)
