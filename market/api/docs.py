"""GET /api/docs: Swagger UI over /api/openapi.json, served from the installed package (no CDN)."""

from __future__ import annotations

from flask import Blueprint, render_template_string
from flask_openapi3_swagger.templates import swagger_html_string

docs = Blueprint("docs", __name__)


@docs.get("/api/docs")
def api_docs():
    # The page's asset paths are relative ("swagger/js/..."), which resolve under /api/.
    return render_template_string(swagger_html_string, doc_url="openapi.json", swagger_config=None, oauth_config=None)
