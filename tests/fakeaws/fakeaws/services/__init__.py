"""The service registry. Each module in this package serves one AWS service:

    from . import Service
    service = Service("efs")                  # botocore's service name

    @service.op("CreateFileSystem")
    def create_file_system(ctx, p):           # p: the parsed, validated input
        ...                                   # ctx: handlers.Context (store, region, ...)
        return {...}                          # the output shape's members, plain values

Parsing, validation, signing checks, faults and serialisation are generic
(protocols/, validate.py, sigv4check.py, faults.py); a handler only implements
the operation's behaviour and raises errors.AWSError for AWS's errors. Dropping
a new module here is enough: every module is imported by load()."""
import importlib
import pkgutil
import threading

from botocore.loaders import Loader
from botocore.model import ServiceModel

from .. import protocols
from ..errors import AWSError

_loader = None
_loader_lock = threading.Lock()


def service_model(name):
    """botocore's model of a service, read from the models botocore ships (and
    nothing else: no ~/.aws/models, no AWS_* setting of the caller's)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)
        return ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)


class Service:
    """One AWS service: its botocore model, its handlers and its wire quirks.

    codes: overrides of protocols.DEFAULT_CODES / AUTH_CODES ({"throttle":
    ("SlowDown", 503)}); json_error_prefix: prepended to __type; s3_style: S3's
    <Error> bodies and x-amz-request-id; xml_roots: response root element per
    operation (rest-xml); xml_namespace: the xmlns of rest-xml bodies;
    ignored_query: query parameters AWS tolerates and ignores; own_idempotency:
    operations whose token a handler treats itself (EFS's CreationToken) rather
    than the generic ClientToken replay (see state.Store.idempotent);
    unsigned: operations AWS also serves without a signature, beyond those the
    model marks "authtype": "none" (STS AssumeRoleWithWebIdentity, which
    botocore sends unsigned by configuration)."""

    def __init__(self, name, codes=None, json_error_prefix="", s3_style=False,
                 xml_roots=None, xml_namespace=None, ignored_query=(), own_idempotency=(), unsigned=()):
        self.name = name
        self.handlers = {}
        self.module = name
        self._codes = dict(codes or {})
        self.json_error_prefix = json_error_prefix
        self.s3_style = s3_style
        self.xml_roots = dict(xml_roots or {})
        self._xml_namespace = xml_namespace
        self.ignored_query = set(ignored_query)
        self.own_idempotency = set(own_idempotency)
        self._unsigned = set(unsigned)
        self._tokens = {}
        self.routes = None
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = service_model(self.name)
        return self._model

    @property
    def protocol(self):
        return protocols.get(self.model.metadata["protocol"])

    @property
    def signing_name(self):
        md = self.model.metadata
        return md.get("signingName") or md.get("endpointPrefix") or self.name

    @property
    def xml_namespace(self):
        md = self.model.metadata
        return self._xml_namespace or md.get("xmlNamespace") or \
            f"https://{md.get('endpointPrefix', self.name)}.amazonaws.com/doc/{md['apiVersion']}/"

    @property
    def unsigned_ops(self):
        """Operations served to requests without a signature."""
        model = self.model
        return self._unsigned | {n for n in model.operation_names
                                 if model.operation_model(n).auth_type == "none"}

    def op(self, name):
        """Decorator registering a handler for the operation `name` (AWS's own
        name, checked against the model)."""
        def register(fn):
            if name not in self.model.operation_names:
                raise ValueError(f"{self.name} has no operation {name} in its model")
            self.handlers[name] = fn
            return fn
        return register

    def idempotency_member(self, op):
        """The input member carrying the operation's idempotency token, or None:
        one the model marks idempotencyToken, or one named ClientToken/clientToken."""
        if op.name not in self._tokens:
            found = None
            shape = op.input_shape
            if shape is not None and op.name not in self.own_idempotency:
                for name, member in shape.members.items():
                    if member.metadata.get("idempotencyToken") or name in ("ClientToken", "clientToken"):
                        found = name
                        break
            self._tokens[op.name] = found
        return self._tokens[op.name]

    def has_code(self, kind):
        proto = self.model.metadata["protocol"]
        return kind in self._codes or kind in protocols.DEFAULT_CODES[proto] or kind in protocols.AUTH_CODES[proto]

    def code(self, kind):
        if kind in self._codes:
            return self._codes[kind]
        proto = self.model.metadata["protocol"]
        if kind in protocols.DEFAULT_CODES[proto]:
            return protocols.DEFAULT_CODES[proto][kind]
        return protocols.AUTH_CODES[proto][kind]

    def fault(self, shape_name, message, **fields):
        """AWSError for an error shape of the model ("DBSubnetGroupNotFoundFault"):
        its code and HTTP status come from the model's error metadata."""
        shape = self.model.shape_for(shape_name)
        meta = shape.metadata.get("error", {})
        code = meta.get("code", shape_name)
        status = meta.get("httpStatusCode", 400)
        return AWSError(code, message, status, fields=fields, sender=meta.get("senderFault", status < 500))

    def error(self, kind, message):
        """AWSError of a generic kind ("missing", "throttle", "signature", ...)
        with this service's code and status for it."""
        code, status = self.code(kind)
        return AWSError(code, message, status)


SERVICES = {}


def load():
    """Import every service module; -> {botocore name: Service}."""
    if SERVICES:
        return SERVICES
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        svc = getattr(module, "service", None)
        if isinstance(svc, Service):
            svc.module = info.name
            SERVICES[svc.name] = svc
    return SERVICES


def by_signing_name():
    """{SigV4 credential-scope service: [Service, ...]}"""
    out = {}
    for svc in load().values():
        out.setdefault(svc.signing_name, []).append(svc)
    return out
