# Websim Studio as a Hugging Face Space of the Docker kind (README.md's front matter says so).
FROM python:3.11-slim

# Spaces run the container as uid 1000; give it a home it can write to (Gradio's cache lives there).
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_TEMP_DIR=/home/user/.cache/gradio
WORKDIR /home/user/app

# Dependencies first, from pyproject.toml alone, so editing the code reuses this cached layer.
COPY --chown=user pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir --user -r requirements.txt

# app.py imports websim_core and studio from the working directory.
COPY --chown=user . .

EXPOSE 7860
CMD ["python", "app.py"]
