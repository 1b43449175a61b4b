# The Faultline app image (used by compose.yaml). Secrets are generated at first start into /data.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY server ./server
COPY sync ./sync
COPY maps ./maps
COPY web ./web
COPY static ./static
RUN pip install --no-cache-dir -e . && useradd --system --home /data faultline && mkdir -p /data && chown faultline /data
USER faultline
EXPOSE 8000
CMD ["faultline", "up", "--no-demo"]
