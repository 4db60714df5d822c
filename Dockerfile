# The market image: the API (gunicorn), the Celery worker and beat, and `market db upgrade`.
# docker-compose.yml runs them all; each service picks its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project from the checkout, then drop the sources: the image runs the installed package.
COPY . /tmp/market-src
RUN python -m pip install /tmp/market-src \
    && rm -rf /tmp/market-src \
    && useradd --system --uid 10001 --no-create-home --home-dir /app market \
    && mkdir /app \
    && chown market:market /app

WORKDIR /app
USER market

EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "market.wsgi:app"]
