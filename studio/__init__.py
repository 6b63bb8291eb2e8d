"""Websim Studio's web app: handlers and shared services behind the Gradio page in `app.py`."""
