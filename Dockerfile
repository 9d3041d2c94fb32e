# Switchboard hub image: the same package serves (`switchboard serve`) and works (`switchboard worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
COPY timeline ./timeline
COPY routing ./routing
COPY automation ./automation
COPY reports ./reports
RUN pip install . && useradd --system --home /app switchboard
USER switchboard

# Listening beyond loopback, `serve` refuses to start without SWITCHBOARD_SECRET_KEY (32+
# random characters, kept with your backups): pass it with `docker run -e` or compose.
ENV SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
CMD ["switchboard", "serve", "--migrate"]
