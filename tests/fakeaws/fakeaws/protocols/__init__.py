"""The five wire protocols (ec2, query, json, rest-json, rest-xml), each one
generic parser and serialiser driven by botocore's shapes. A protocol object:

  operation(svc, req) -> botocore OperationModel   (raises AWSError when unknown)
  parse(svc, op, req) -> params (a plain dict keyed by the model's member names)
  serialize(svc, op, result, req) -> Response      (result: the handler's plain dict)
  error(svc, err, req, op) -> Response             (err: errors.AWSError)

Requests are httpd.Request; responses are Response below."""
import threading


class Response:
    def __init__(self, status=200, headers=None, body=b""):
        self.status = status
        self.headers = headers if headers is not None else {}
        self.body = body


# Default error codes per protocol; a service may override any of them
# (services.Service(..., codes={...})). Each entry: (code, HTTP status).
DEFAULT_CODES = {
    "ec2": {
        "malformed": ("MalformedQueryString", 400),
        "missing": ("MissingParameter", 400),
        "unknown": ("UnknownParameter", 400),
        "invalid": ("InvalidParameterValue", 400),
        "unknown_operation": ("InvalidAction", 400),
        "throttle": ("RequestLimitExceeded", 503),
        "internal": ("InternalError", 500),
        "unavailable": ("Unavailable", 503),
        "idempotency_mismatch": ("IdempotentParameterMismatch", 400),
    },
    "query": {
        "malformed": ("MalformedQueryString", 400),
        "missing": ("MissingParameter", 400),
        "unknown": ("ValidationError", 400),
        "invalid": ("ValidationError", 400),
        "unknown_operation": ("InvalidAction", 400),
        "throttle": ("Throttling", 400),
        "internal": ("InternalFailure", 500),
        "unavailable": ("ServiceUnavailable", 503),
        "idempotency_mismatch": ("IdempotentParameterMismatch", 400),
    },
    "json": {
        "malformed": ("SerializationException", 400),
        "missing": ("ValidationException", 400),
        "unknown": ("ValidationException", 400),
        "invalid": ("ValidationException", 400),
        "unknown_operation": ("UnknownOperationException", 400),
        "throttle": ("ThrottlingException", 400),
        "internal": ("InternalFailure", 500),
        "unavailable": ("ServiceUnavailableException", 503),
        "idempotency_mismatch": ("IdempotentParameterMismatch", 400),
    },
    "rest-json": {
        "malformed": ("SerializationException", 400),
        "missing": ("ValidationException", 400),
        "unknown": ("ValidationException", 400),
        "invalid": ("ValidationException", 400),
        "unknown_operation": ("UnknownOperationException", 404),
        "throttle": ("ThrottlingException", 429),
        "internal": ("InternalFailure", 500),
        "unavailable": ("ServiceUnavailableException", 503),
        "idempotency_mismatch": ("IdempotentParameterMismatch", 400),
    },
    "rest-xml": {
        "malformed": ("InvalidInput", 400),
        "missing": ("InvalidInput", 400),
        "unknown": ("InvalidInput", 400),
        "invalid": ("InvalidInput", 400),
        "unknown_operation": ("UnknownOperation", 404),
        "throttle": ("Throttling", 400),
        "internal": ("InternalError", 500),
        "unavailable": ("ServiceUnavailable", 503),
        "idempotency_mismatch": ("IdempotentParameterMismatch", 400),
    },
}

# SigV4 failures, per protocol: (code, status).
AUTH_CODES = {
    "ec2": {
        "auth_missing": ("MissingAuthenticationToken", 401),
        "auth_malformed": ("IncompleteSignature", 400),
        "auth_unknown_key": ("AuthFailure", 401),
        "auth_token": ("AuthFailure", 401),
        "auth_signature": ("SignatureDoesNotMatch", 403),
        "auth_expired": ("RequestExpired", 400),
        "auth_expired_token": ("RequestExpired", 400),
    },
    "query": {
        "auth_missing": ("MissingAuthenticationToken", 403),
        "auth_malformed": ("IncompleteSignature", 400),
        "auth_unknown_key": ("InvalidClientTokenId", 403),
        "auth_token": ("InvalidClientTokenId", 403),
        "auth_signature": ("SignatureDoesNotMatch", 403),
        "auth_expired": ("SignatureDoesNotMatch", 403),
        "auth_expired_token": ("ExpiredToken", 403),
    },
    "json": {
        "auth_missing": ("MissingAuthenticationTokenException", 403),
        "auth_malformed": ("IncompleteSignatureException", 400),
        "auth_unknown_key": ("UnrecognizedClientException", 400),
        "auth_token": ("UnrecognizedClientException", 400),
        "auth_signature": ("InvalidSignatureException", 403),
        "auth_expired": ("InvalidSignatureException", 403),
        "auth_expired_token": ("ExpiredTokenException", 400),
    },
    "rest-json": {
        "auth_missing": ("MissingAuthenticationTokenException", 403),
        "auth_malformed": ("IncompleteSignatureException", 400),
        "auth_unknown_key": ("UnrecognizedClientException", 403),
        "auth_token": ("UnrecognizedClientException", 403),
        "auth_signature": ("InvalidSignatureException", 403),
        "auth_expired": ("InvalidSignatureException", 403),
        "auth_expired_token": ("ExpiredTokenException", 403),
    },
    "rest-xml": {
        "auth_missing": ("MissingAuthenticationToken", 403),
        "auth_malformed": ("IncompleteSignature", 400),
        "auth_unknown_key": ("InvalidClientTokenId", 403),
        "auth_token": ("InvalidClientTokenId", 403),
        "auth_signature": ("SignatureDoesNotMatch", 403),
        "auth_expired": ("SignatureDoesNotMatch", 403),
        "auth_expired_token": ("ExpiredToken", 403),
    },
}


_protocols = {}
_lock = threading.Lock()


def get(name):
    """The protocol object for a botocore metadata "protocol" value."""
    with _lock:
        if not _protocols:
            from . import jsonproto, query, rest
            _protocols.update({
                "ec2": query.QueryProtocol(ec2=True),
                "query": query.QueryProtocol(ec2=False),
                "json": jsonproto.JSONProtocol(),
                "rest-json": rest.RestProtocol(json_body=True),
                "rest-xml": rest.RestProtocol(json_body=False),
            })
        return _protocols[name]
