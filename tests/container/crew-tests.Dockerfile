# The appliance image plus the test runner, to run the crew tests against the image's own venv
# (tests/container/test_crew_in_image.py). Never shipped.
ARG IMAGE
FROM ${IMAGE}
USER root
RUN /opt/venv/bin/pip install --no-cache-dir "pytest>=8" "pytest-timeout>=2.3" "sanic-testing>=24" "jsonschema>=4.21"
USER app
