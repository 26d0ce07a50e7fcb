"""AWSError: the one exception a handler (or any stage of the pipeline) raises to
answer with an AWS error. Each protocol renders it in its own wire format."""


class AWSError(Exception):
    """code: AWS's error code ("InvalidVpcID.NotFound"); message: its text;
    status: the HTTP status; fields: extra members of the error body (modelled
    error fields such as EFS's ErrorCode/FileSystemId); headers: extra headers;
    sender: True for client faults (Type=Sender), False for server faults."""

    def __init__(self, code, message="", status=400, fields=None, headers=None, sender=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        self.sender = (status < 500) if sender is None else sender


class NotImplementedByFake(AWSError):
    """An operation that exists in AWS's model but has no handler here yet:
    never a fake success, always this clear failure (HTTP 501)."""

    def __init__(self, service, operation, module):
        super().__init__(
            "NotImplemented",
            f"fakeaws does not serve {service} {operation} yet "
            f"(add a handler to tests/fakeaws/fakeaws/services/{module}.py)",
            status=501)
