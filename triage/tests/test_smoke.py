def test_settings_load():
    from django.conf import settings

    assert "triage" in settings.INSTALLED_APPS
