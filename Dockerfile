# One image for web, worker, beat and Flower (the production shape in docker-compose.yml).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ZONA_ENV=production ZONA_STATE_DIR=/var/lib/zona
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY domain domain
COPY db db
COPY integrations integrations
COPY workers workers
COPY webapp webapp
COPY zona_privada zona_privada
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --home /var/lib/zona zona \
    && mkdir -p /var/lib/zona /var/lib/zona-metrics && chown zona /var/lib/zona /var/lib/zona-metrics
USER zona
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--config", "python:zona_privada.gunicorn_conf", "webapp:create_app()"]
