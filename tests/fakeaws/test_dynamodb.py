"""DynamoDB behaviour: condition expressions (the lock table's
attribute_not_exists, equality on an attribute, and the rest of the grammar),
placeholders, key checks, table lifecycle."""
import unittest

from botocore.exceptions import ClientError

from fakeaws.testing import Fake
from test_auth import error_of


class DynamoDBTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(settle=1)
        cls.ddb = cls.fake.client("dynamodb")
        cls.ddb.create_table(TableName="locks", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
        cls.ddb.describe_table(TableName="locks")
        cls.ddb.describe_table(TableName="locks")

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def put(self, lock_id, **attrs):
        item = {"LockID": {"S": lock_id}}
        item.update(attrs)
        self.ddb.put_item(TableName="locks", Item=item)

    def holds(self, lock_id, condition, names=None, values=None):
        """Does a PutItem of lock_id with this condition succeed?"""
        kwargs = {"ConditionExpression": condition}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        current = self.ddb.get_item(TableName="locks", Key={"LockID": {"S": lock_id}}).get("Item")
        try:
            self.ddb.put_item(TableName="locks", Item=current or {"LockID": {"S": lock_id}}, **kwargs)
            if current is None:
                self.ddb.delete_item(TableName="locks", Key={"LockID": {"S": lock_id}})
            return True
        except ClientError as e:
            self.assertEqual("ConditionalCheckFailedException", e.response["Error"]["Code"])
            return False

    def test_the_lock_protocol(self):
        item = {"LockID": {"S": "bucket/prod"}, "Info": {"S": '{"Who":"a"}'}}
        self.ddb.put_item(TableName="locks", Item=item, ConditionExpression="attribute_not_exists(LockID)")
        self.assertEqual(("ConditionalCheckFailedException", 400),
                         error_of(self.ddb.put_item, TableName="locks", Item=dict(item, Info={"S": "b"}),
                                  ConditionExpression="attribute_not_exists(LockID)"))
        self.assertEqual(("ConditionalCheckFailedException", 400),
                         error_of(self.ddb.delete_item, TableName="locks", Key={"LockID": {"S": "bucket/prod"}},
                                  ConditionExpression="#i = :mine", ExpressionAttributeNames={"#i": "Info"},
                                  ExpressionAttributeValues={":mine": {"S": "someone else"}}))
        self.ddb.delete_item(TableName="locks", Key={"LockID": {"S": "bucket/prod"}},
                             ConditionExpression="#i = :mine", ExpressionAttributeNames={"#i": "Info"},
                             ExpressionAttributeValues={":mine": {"S": '{"Who":"a"}'}})
        self.assertNotIn("Item", self.ddb.get_item(TableName="locks", Key={"LockID": {"S": "bucket/prod"}}))

    def test_conditions(self):
        self.put("c", Owner={"S": "ann"}, N={"N": "10"}, Tags={"SS": ["a", "b"]},
                 Doc={"M": {"Inner": {"L": [{"S": "x"}, {"N": "2"}]}}})
        v = {":ann": {"S": "ann"}, ":bob": {"S": "bob"}}
        cases = [
            ("attribute_exists(Owner)", None, None, True),
            ("attribute_exists(Nope)", None, None, False),
            ("attribute_not_exists(Nope)", None, None, True),
            ("Owner = :ann", None, {":ann": v[":ann"]}, True),
            ("Owner <> :ann", None, {":ann": v[":ann"]}, False),
            ("#o = :bob OR #o = :ann", {"#o": "Owner"}, v, True),
            ("#o = :bob AND attribute_exists(N)", {"#o": "Owner"}, {":bob": v[":bob"]}, False),
            ("NOT (#o = :bob)", {"#o": "Owner"}, {":bob": v[":bob"]}, True),
            ("N > :five", None, {":five": {"N": "5"}}, True),
            ("N < :five", None, {":five": {"N": "5"}}, False),
            ("N = :ten", None, {":ten": {"N": "10.0"}}, True),
            ("N BETWEEN :a AND :b", None, {":a": {"N": "1"}, ":b": {"N": "10"}}, True),
            ("Owner IN (:bob, :ann)", None, v, True),
            ("begins_with(Owner, :a)", None, {":a": {"S": "an"}}, True),
            ("contains(Tags, :b)", None, {":b": {"S": "b"}}, True),
            ("size(Owner) = :three", None, {":three": {"N": "3"}}, True),
            ("attribute_type(N, :t)", None, {":t": {"S": "N"}}, True),
            ("Doc.Inner[1] = :two", None, {":two": {"N": "2"}}, True),
            ("attribute_exists(Doc.Inner[5])", None, None, False),
            ("Owner = :num", None, {":num": {"N": "1"}}, False),
        ]
        for condition, names, values, want in cases:
            with self.subTest(condition=condition):
                self.assertEqual(want, self.holds("c", condition, names, values))

    def test_placeholders_must_be_defined_and_used(self):
        for kwargs, message in [
            ({"ConditionExpression": "#o = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}},
             "attribute name used in the document path is not defined"),
            ({"ConditionExpression": "Owner = :v"}, "attribute value used in expression is not defined"),
            ({"ConditionExpression": "Owner = :v", "ExpressionAttributeValues": {":v": {"S": "x"}, ":w": {"S": "y"}}},
             "unused in expressions: keys: {:w}"),
            ({"ExpressionAttributeNames": {"#o": "Owner"}}, "can only be specified when using expressions"),
            ({"ConditionExpression": "Owner = = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}},
             "Syntax error"),
        ]:
            with self.subTest(message=message):
                with self.assertRaises(ClientError) as cm:
                    self.ddb.put_item(TableName="locks", Item={"LockID": {"S": "p"}}, **kwargs)
                self.assertEqual("ValidationException", cm.exception.response["Error"]["Code"])
                self.assertIn(message, cm.exception.response["Error"]["Message"])

    def test_keys_are_checked_against_the_schema(self):
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ddb.put_item, TableName="locks", Item={"Other": {"S": "x"}}))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ddb.put_item, TableName="locks", Item={"LockID": {"N": "1"}}))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ddb.get_item, TableName="locks",
                                  Key={"LockID": {"S": "x"}, "Extra": {"S": "y"}}))
        self.assertEqual(("ResourceNotFoundException", 400),
                         error_of(self.ddb.get_item, TableName="nothere", Key={"LockID": {"S": "x"}}))

    def test_return_values_and_projection(self):
        self.put("r", A={"S": "1"}, B={"BOOL": True})
        old = self.ddb.put_item(TableName="locks", Item={"LockID": {"S": "r"}, "A": {"S": "2"}},
                                ReturnValues="ALL_OLD")["Attributes"]
        self.assertEqual({"LockID": {"S": "r"}, "A": {"S": "1"}, "B": {"BOOL": True}}, old)
        got = self.ddb.get_item(TableName="locks", Key={"LockID": {"S": "r"}}, ProjectionExpression="#a",
                                ExpressionAttributeNames={"#a": "A"})["Item"]
        self.assertEqual({"A": {"S": "2"}}, got)

    def test_table_lifecycle(self):
        self.ddb.create_table(TableName="fresh", BillingMode="PROVISIONED",
                              ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                              KeySchema=[{"AttributeName": "k", "KeyType": "HASH"},
                                         {"AttributeName": "r", "KeyType": "RANGE"}],
                              AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"},
                                                    {"AttributeName": "r", "AttributeType": "N"}])
        item = {"k": {"S": "a"}, "r": {"N": "1"}}
        self.assertEqual(("ResourceNotFoundException", 400),
                         error_of(self.ddb.put_item, TableName="fresh", Item=item))
        self.assertEqual(("ResourceInUseException", 400),
                         error_of(self.ddb.create_table, TableName="fresh", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}]))
        statuses = [self.ddb.describe_table(TableName="fresh")["Table"]["TableStatus"] for _ in range(2)]
        self.assertEqual(["CREATING", "ACTIVE"], statuses)
        self.ddb.put_item(TableName="fresh", Item=item)
        self.ddb.put_item(TableName="fresh", Item={"k": {"S": "a"}, "r": {"N": "1.0"}, "x": {"S": "same key"}})
        self.assertEqual(1, self.ddb.describe_table(TableName="fresh")["Table"]["ItemCount"])
        self.assertEqual("DELETING", self.ddb.delete_table(TableName="fresh")["TableDescription"]["TableStatus"])
        self.ddb.describe_table(TableName="fresh")
        self.assertEqual(("ResourceNotFoundException", 400), error_of(self.ddb.describe_table, TableName="fresh"))

    def test_key_schema_must_match_definitions(self):
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ddb.create_table, TableName="bad", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"},
                                                        {"AttributeName": "extra", "AttributeType": "S"}]))
        self.assertEqual(("ValidationException", 400),
                         error_of(self.ddb.create_table, TableName="bad", BillingMode="PROVISIONED",
                                  KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}]))

    def test_items_show_in_state(self):
        self.put("visible", Info={"S": "hello"})
        items = self.fake.state()["dynamodb"]["item"]
        self.assertIn({"TableName": "locks", "Item": {"LockID": {"S": "visible"}, "Info": {"S": "hello"}}},
                      list(items.values()))


if __name__ == "__main__":
    unittest.main()
