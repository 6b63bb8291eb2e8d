# Websim Studio as a Hugging Face Space of the Docker kind (README.md's front matter says so).
FROM python:3.11-slim

# Spaces run the container as uid 1000; give it a home it can write to.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False
WORKDIR /home/user/app

# Dependencies first, from pyproject.toml alone, so editing the code reuses this cached layer.
COPY --chown=user pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir --user -r requirements.txt

# app.py imports websim_core and studio from the working directory.
COPY --chown=user . .

EXPOSE 7860
# Liveness only: /healthz answers while the process serves, whatever Websim is doing. On the
# port the app listens on: GRADIO_SERVER_PORT, when `docker run -e` sets another.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GRADIO_SERVER_PORT', '7860'), timeout=4)"]
# `python` is PID 1 and gets `docker stop`'s SIGTERM itself: the server finishes, then removes
# its files folder.
CMD ["python", "app.py"]
