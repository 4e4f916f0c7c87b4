import pytest

from domain.password_policy import PasswordPolicy

POLICY = PasswordPolicy()


def test_describe_lists_the_manual_rules_in_order() -> None:
    assert POLICY.describe() == [
        "Una letra mayúscula",
        "Una letra minúscula",
        "Un número",
        "Mínimo 4 caracteres",
        "Máximo 8 caracteres",
    ]


def test_rules_are_built_from_the_numbers() -> None:
    policy = PasswordPolicy(min_length=6, max_length=12, require_digit=False)
    assert policy.describe() == [
        "Una letra mayúscula",
        "Una letra minúscula",
        "Mínimo 6 caracteres",
        "Máximo 12 caracteres",
    ]
    assert policy.violations("Abcde") == ["Mínimo 6 caracteres"]


@pytest.mark.parametrize("password", ["Ab1c", "Clave123", "zZ9zzzzz"])
def test_good_keys_pass(password: str) -> None:
    assert POLICY.violations(password) == []


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("ab1c", ["Una letra mayúscula"]),
        ("AB1C", ["Una letra minúscula"]),
        ("Abcd", ["Un número"]),
        ("Ab1", ["Mínimo 4 caracteres"]),
        ("Abcdefg12", ["Máximo 8 caracteres"]),
        ("", ["Una letra mayúscula", "Una letra minúscula", "Un número", "Mínimo 4 caracteres"]),
        ("Áb1cd", ["Una letra mayúscula", "Use solo letras y números"]),
        ("Ab1 c", ["Use solo letras y números"]),
        ("Ab1-c", ["Use solo letras y números"]),
        ("Ab１c", ["Un número", "Use solo letras y números"]),  # full-width digit
    ],
)
def test_violations_name_each_broken_rule(password: str, broken: list[str]) -> None:
    assert POLICY.violations(password) == broken


def test_key_equal_to_temporary_key_or_document_is_refused() -> None:
    message = "La clave no puede ser igual a la clave temporal ni a su número de documento"
    assert POLICY.violations("Tmp4key", forbidden=["Tmp4key", "1077227777"]) == [message]
    assert POLICY.violations("Tmp4key", forbidden=("other1A",)) == []
    assert POLICY.violations("Tmp4key", forbidden=iter(["Tmp4key"])) == [message]


def test_document_number_as_key_fails_both_rules() -> None:
    assert "La clave no puede ser igual a la clave temporal ni a su número de documento" in POLICY.violations(
        "10772277", forbidden=["10772277"]
    )


def test_inconsistent_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=9, max_length=8)
