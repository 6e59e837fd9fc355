from django.urls import path

from watchfloor.dashboard import views

app_name = "dashboard"

urlpatterns = [path("", views.home, name="home")]

# Not namespaced: settings.LOGIN_URL and django.contrib.auth name them `login` and `logout`.
auth_urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
]
