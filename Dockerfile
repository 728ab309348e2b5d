# The production image: `docker build -t mass-text-alerts .` then see compose.yaml and README "Deploy".
# Every install step is scripts/install-prod.sh (the same script `make setup-prod` and CI run), so what
# CI proves on a fresh machine is what this image installs: the dependencies pinned and hash-checked
# from requirements.lock, then the app.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user; the reports directory is theirs so a named volume mounted there is too.
RUN groupadd --system --gid 10001 mass-alert \
    && useradd --system --uid 10001 --gid mass-alert --home-dir /var/lib/mass-alert --shell /usr/sbin/nologin mass-alert \
    && install -d -o mass-alert -g mass-alert /var/lib/mass-alert /var/lib/mass-alert/reports

COPY . /src
RUN /src/scripts/install-prod.sh /opt/mass-alert && rm -rf /src

ENV PATH=/opt/mass-alert/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=3000 \
    REPORTS_DIR=/var/lib/mass-alert/reports

USER mass-alert
WORKDIR /var/lib/mass-alert
EXPOSE 3000
CMD ["mass-alert", "serve"]
