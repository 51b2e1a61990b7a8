# storemon: the HTTP service (and the inbox watcher) in a container.
# Built from requirements.lock: the runtime dependencies at exactly the versions CI tests.
#   docker build -t storemon .    docker run -p 8080:8080 -v storemon-data:/data storemon
# Configuration: STOREMON_* variables only (README, "Configuration").

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md LICENSE ./
COPY src ./src
# --constraint: every package storemon needs comes at the version pinned in the lock file.
RUN python -m venv /opt/storemon \
    && /opt/storemon/bin/pip install --no-cache-dir --constraint requirements.lock . \
    && /opt/storemon/bin/storemon --version

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /data storemon \
    && mkdir -p /data/inbox && chown -R storemon:storemon /data
COPY --from=build /opt/storemon /opt/storemon
ENV PATH=/opt/storemon/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STOREMON_HOST=0.0.0.0 \
    STOREMON_PORT=8080 \
    STOREMON_DB=duckdb:////data/storemon.duckdb \
    STOREMON_INBOX_DIR=/data/inbox \
    STOREMON_LOG_FORMAT=json
USER storemon
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["storemon"]
CMD ["serve"]
