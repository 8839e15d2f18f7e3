# Where this proxy forwards webhooks; rewritten by ansible/update_proxy.yml.
UPSTREAM_URL = "https://old-tunnel.example.invalid"
