"""The ESP's tracking webhook as the tests call it: its address, the secret the
`webhook_secret` fixture (tests/conftest.py) configures, and the Basic auth header
Postmark sends with it (anymail's WEBHOOK_SECRET, "user:password")."""
import base64

URL = "/anymail/postmark/tracking/"
SECRET = "postmark-hook:correct-horse-battery"


def auth(credentials: str = SECRET) -> dict:
    """Request headers carrying `credentials` as the ESP sends them."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}
