# Python 3.11, the version CI tests (.ci/run).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/bot.sqlite3 HTTP_HOST=0.0.0.0 HTTP_PORT=8080

WORKDIR /app
# The locked runtime dependencies in a layer of their own, which a change to the code leaves cached.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && useradd --system --uid 10001 --home-dir /data botuser \
    && mkdir -p /data && chown botuser /data

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir --no-deps . && rm -rf build ./*.egg-info

USER botuser
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8080\")}/healthz', timeout=4)"
CMD ["python", "-m", "bot"]
