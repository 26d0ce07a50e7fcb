-- wpo.core.xml: the node shape (names, attributes, text, children as lists),
-- namespaces dropped, and malformed, truncated or hostile documents answered
-- with nil, err — never a crash (the suite also runs under ASan).
local xml = require "wpo.core.xml"

local DESCRIBE_VPCS = [[<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>
    <vpcSet>
        <item>
            <vpcId>vpc-1a2b3c4d</vpcId>
            <state>available</state>
            <cidrBlock>10.0.0.0/16</cidrBlock>
            <tagSet>
                <item><key>Name</key><value>prod &amp; &lt;main&gt;</value></item>
            </tagSet>
            <isDefault>false</isDefault>
        </item>
        <item>
            <vpcId>vpc-5e6f7a8b</vpcId>
            <state>pending</state>
            <cidrBlock>10.1.0.0/16</cidrBlock>
            <tagSet/>
            <isDefault>true</isDefault>
        </item>
    </vpcSet>
</DescribeVpcsResponse>]]

-- The first child called name.
local function child(node, name)
  for _, c in ipairs(node) do if c.name == name then return c end end
end

local function refused(doc, pattern, opts)
  local v, err = xml.decode(doc, opts)
  assert.is_nil(v)
  assert.is_string(err)
  assert.matches("^xml: ", err)
  if pattern then assert.matches(pattern, err) end
  return err
end

describe("wpo.core.xml", function()
  describe("decode", function()
    it("gives name, text and children in document order", function()
      local root = assert(xml.decode(DESCRIBE_VPCS))
      assert.are.equal("DescribeVpcsResponse", root.name)
      assert.are.equal(2, #root)
      assert.are.equal("7a62c49f-347e-4fc4-9331-6e8eEXAMPLE", child(root, "requestId").text)
      local items = child(root, "vpcSet")
      assert.are.equal(2, #items)
      assert.are.same({ "vpc-1a2b3c4d", "vpc-5e6f7a8b" }, { child(items[1], "vpcId").text, child(items[2], "vpcId").text })
      assert.are.equal("prod & <main>", child(child(child(items[1], "tagSet"), "item"), "value").text)
    end)

    it("keeps lists of one and of none as lists", function()
      local items = child(assert(xml.decode(DESCRIBE_VPCS)), "vpcSet")
      assert.are.equal(1, #child(items[1], "tagSet"))
      local empty = child(items[2], "tagSet")
      assert.are.equal(0, #empty)
      assert.are.equal("", empty.text)
    end)

    it("gives attributes, or nil when there are none", function()
      local root = assert(xml.decode('<Grant a="1" b="x &amp; y"><Grantee type="CanonicalUser"/></Grant>'))
      assert.are.same({ a = "1", b = "x & y" }, root.attrs)
      assert.are.same({ type = "CanonicalUser" }, root[1].attrs)
      assert.is_nil(assert(xml.decode("<a/>")).attrs)
    end)

    it("drops namespace prefixes and xmlns attributes", function()
      local root = assert(xml.decode([[<s:Envelope xmlns:s="urn:soap" xmlns="urn:default"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <s:Body><Grantee xsi:type="CanonicalUser"><ID>abc</ID></Grantee></s:Body></s:Envelope>]]))
      assert.are.equal("Envelope", root.name)
      assert.is_nil(root.attrs)
      assert.are.equal("Body", root[1].name)
      assert.are.same({ type = "CanonicalUser" }, root[1][1].attrs)
      assert.are.equal("abc", root[1][1][1].text)
    end)

    it("concatenates an element's own text: entities, character references, CDATA", function()
      local root = assert(xml.decode("<m>a &lt;b&gt; &#233;&#x263A; <![CDATA[<raw> & ]]>end</m>"))
      assert.are.equal("a <b> \xc3\xa9\xe2\x98\xba <raw> & end", root.text)
    end)

    it("keeps leaf text exactly, whitespace and newlines included", function()
      local root = assert(xml.decode("<UserData>  #!/bin/sh\n  echo hi\n</UserData>"))
      assert.are.equal("  #!/bin/sh\n  echo hi\n", root.text)
    end)

    it("does not mix a parent's text with its children's", function()
      local root = assert(xml.decode("<p>one<b>two</b>three<i/>four</p>"))
      assert.are.equal("onethreefour", root.text)
      assert.are.equal("two", root[1].text)
    end)

    it("decodes other encodings into UTF-8", function()
      local root = assert(xml.decode('<?xml version="1.0" encoding="ISO-8859-1"?><a>caf\xe9</a>'))
      assert.are.equal("caf\xc3\xa9", root.text)
    end)

    it("ignores comments and processing instructions", function()
      local root = assert(xml.decode("<!-- c --><?pi x?><a><!-- inner -->x<?pi y?></a>"))
      assert.are.equal("x", root.text)
      assert.are.equal(0, #root)
    end)

    it("handles a large list", function()
      local parts = { "<ListResult>" }
      for i = 1, 5000 do parts[#parts + 1] = "<member><Id>" .. i .. "</Id></member>" end
      parts[#parts + 1] = "</ListResult>"
      local root = assert(xml.decode(table.concat(parts)))
      assert.are.equal(5000, #root)
      assert.are.equal("4321", root[4321][1].text)
    end)
  end)

  describe("refuses", function()
    it("malformed documents, naming expat's reason and the line", function()
      refused("<a><b></a>", "^xml: mismatched tag at line 1$")
      refused("<a>\n\n<b x='1' x='2'/></a>", "duplicate attribute at line 3$")
      refused("<a>&bogus;</a>", "undefined entity")
      refused("<a>\0</a>", "not well%-formed")
      refused("<a></a><b></b>", "junk after document element")
      refused("just text", "syntax error")
      refused("<a>\xff\xfe</a>", "not well%-formed")
    end)

    it("empty and truncated documents", function()
      refused("", "no element found")
      refused("   ", "no element found")
      for n = 1, #DESCRIBE_VPCS - 1 do
        local v, err = xml.decode(DESCRIBE_VPCS:sub(1, n))
        assert.is_nil(v, "truncated at " .. n)
        assert.matches("^xml: .* at line %d+$", err)
      end
    end)

    it("any DTD, so no entity expansion (billion laughs)", function()
      local lol = { '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">' }
      for i = 1, 9 do
        lol[#lol + 1] = string.format(' <!ENTITY lol%d "%s">', i, (i == 1 and "&lol;" or "&lol" .. (i - 1) .. ";"):rep(10))
      end
      lol[#lol + 1] = "]>\n<lolz>&lol9;</lolz>"
      refused(table.concat(lol, "\n"), "DTDs are refused")
    end)

    it("external entities and external DTDs", function()
      refused('<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>',
        "DTDs are refused")
      refused('<!DOCTYPE foo SYSTEM "http://127.0.0.1:1/evil.dtd"><foo/>', "DTDs are refused")
      refused('<!DOCTYPE foo [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><foo/>', "DTDs are refused")
    end)

    it("nesting deeper than the limit (10,000 levels)", function()
      local deep = ("<a>"):rep(10000) .. ("</a>"):rep(10000)
      refused(deep, "nesting deeper than 256 levels")
      refused(("<a>"):rep(10000), "nesting deeper than 256 levels")
      assert.is_table(xml.decode(("<a>"):rep(256) .. ("</a>"):rep(256)))
      refused(("<a>"):rep(11) .. ("</a>"):rep(11), "deeper than 10 levels", { max_depth = 10 })
    end)

    it("documents larger than the limit", function()
      refused("<a>0123456789</a>", "larger than the limit of 10 bytes", { max_bytes = 10 })
      assert.is_table(xml.decode("<a>0123456789</a>", { max_bytes = 17 }))
    end)

    it("nothing but survives huge attributes and text", function()
      local big = ("x"):rep(8 * 1024 * 1024)
      local root = assert(xml.decode('<a v="' .. big .. '">' .. big .. "</a>"))
      assert.are.equal(#big, #root.attrs.v)
      assert.are.equal(#big, #root.text)
      local many = { "<a" }
      for i = 1, 20000 do many[#many + 1] = string.format(' a%d="%d"', i, i) end
      many[#many + 1] = "/>"
      root = assert(xml.decode(table.concat(many)))
      assert.are.equal("20000", root.attrs.a20000)
      refused('<a v="' .. big, "at line 1$")
    end)

    it("random corruption of a real response: nil, err or a table, never a crash", function()
      local seed = 12345
      local function rand(n)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n + 1
      end
      local alphabet = "<>/&;=\"' !?[]-x\0\255"
      for _ = 1, 2000 do
        local doc = DESCRIBE_VPCS
        for _ = 1, rand(4) do
          local at = rand(#doc)
          local c = rand(#alphabet)
          doc = doc:sub(1, at - 1) .. alphabet:sub(c, c) .. doc:sub(at + 1)
        end
        local v, err = xml.decode(doc)
        assert.is_true(type(v) == "table" or (v == nil and type(err) == "string"))
      end
    end)
  end)

  describe("misuse raises", function()
    it("on a non-string document or unknown options", function()
      assert.has_error(function() xml.decode(nil) end)
      assert.has_error(function() xml.decode("<a/>", { max_dpeth = 3 }) end,
        "xml.decode: unknown option 'max_dpeth' (valid: max_depth, max_bytes)")
      assert.has_error(function() xml.decode("<a/>", { max_depth = 0 }) end)
    end)
  end)
end)
