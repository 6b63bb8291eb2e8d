"""Websim Studio's web app: the page (studio.page), its handlers and the shared services."""
