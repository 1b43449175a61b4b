# The Faultline app image (used by compose.yaml). Secrets are generated at first start into /data.
# Python packages come from uv.lock only, installed by the same function as ./run.sh (scripts/lib.sh
# python_env), which CI proves on every run with a fresh runtime-only virtualenv.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_NO_CACHE=1 PATH=/app/.venv/bin:$PATH
COPY pyproject.toml uv.lock README.md ./
COPY scripts ./scripts
COPY server ./server
COPY sync ./sync
COPY maps ./maps
COPY web ./web
COPY static ./static
RUN bash -c 'set -euo pipefail; source scripts/lib.sh; PYTHON=python3; python_env /app/.venv' \
    && rm -rf /app/.tools \
    && useradd --system --home /data faultline && mkdir -p /data && chown faultline /data
USER faultline
EXPOSE 8000
CMD ["faultline", "up", "--no-demo"]
