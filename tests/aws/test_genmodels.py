"""tools/genmodels.py: the committed models are what the generator makes
from the installed botocore (skipped when botocore is absent)."""
import importlib.util
import os
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

try:
    import botocore  # noqa: F401
    HAVE_BOTOCORE = True
except ImportError:
    HAVE_BOTOCORE = False


def load_generator():
    spec = importlib.util.spec_from_file_location("genmodels", os.path.join(REPO, "tools", "genmodels.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@unittest.skipUnless(HAVE_BOTOCORE, "botocore is not importable (install python3-botocore)")
class GenModelsTest(unittest.TestCase):
    def test_regenerating_gives_the_committed_files(self):
        gen = load_generator()
        files = gen.generate()
        out = os.path.join(REPO, "stdlib", "wpo", "aws")
        self.assertGreaterEqual(len(files), 20)
        for rel, text in sorted(files.items()):
            with open(os.path.join(out, rel), encoding="utf-8") as f:
                self.assertEqual(f.read(), text, f"{rel} differs: run /usr/bin/python3 tools/genmodels.py")

    def test_every_operation_of_the_services_is_present(self):
        import botocore.session
        gen = load_generator()
        files = gen.generate()
        session = botocore.session.get_session()
        for name, modname in gen.SERVICES:
            model = session.get_service_model(name)
            text = files[f"models/{modname}.lua"]
            for op in model.operation_names:
                self.assertIn(f"ops.{op}=", text, f"{name} {op} missing")

    def test_sensitive_members_are_marked(self):
        gen = load_generator()
        text = gen.generate()["models/secretsmanager.lua"]
        # SecretString and SecretBinary are "sensitive": true in the model
        self.assertRegex(text, r'"SecretString",\{"string",[^}]*s=true')
        self.assertRegex(text, r'"SecretBinary",\{"blob",[^}]*s=true')


if __name__ == "__main__":
    unittest.main()
