"""Plain secondary keys are taken out of a copied table's CREATE TABLE and built after its copy."""

from __future__ import annotations

from dtsctl.connectors.mysql.schema import deferrable_keys, key_name, without_keys

DEFINITION = """CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL,
  `customer` int(11) NOT NULL,
  `code` varchar(10) DEFAULT NULL,
  `note` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `by_code` (`code`),
  KEY `by_customer` (`customer`),
  FULLTEXT KEY `by_note` (`note`),
  KEY `odd``name` (`customer`,`code`(4)) COMMENT 'x'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


def test_only_plain_keys_are_deferred_and_the_rest_stays_valid() -> None:
    keys = deferrable_keys(DEFINITION)
    assert keys == ["KEY `by_customer` (`customer`)", "KEY `odd``name` (`customer`,`code`(4)) COMMENT 'x'"]
    assert [key_name(key) for key in keys] == ["by_customer", "odd`name"]
    # the last item before ")" loses its comma
    expected = (DEFINITION.replace("  KEY `by_customer` (`customer`),\n", "")
                .replace(",\n  KEY `odd``name` (`customer`,`code`(4)) COMMENT 'x'", ""))
    assert without_keys(DEFINITION, keys) == expected
    assert expected.count("KEY") == 3 and "`note`),\n" not in expected
    assert without_keys(DEFINITION, []) == DEFINITION


def test_tables_with_foreign_keys_or_an_unexpected_layout_defer_nothing() -> None:
    with_fk = DEFINITION.replace("  FULLTEXT", "  CONSTRAINT `fk` FOREIGN KEY (`customer`) REFERENCES `c` (`id`),\n"
                                               "  FULLTEXT")
    assert deferrable_keys(with_fk) == []
    assert deferrable_keys("CREATE TABLE `t` (`id` int, KEY `k` (`id`))") == []
