"""Validation of Choice states and their rules (spec/flows-language.md §6): the methods `validation._Checker`
takes from `_ChoiceChecks`; they report through the checker's `add` and `expect`.
"""

from __future__ import annotations

from .validation_rules import _RULE_STRUCTURE, CHOICE_OPERATORS, MAX_RULE_DEPTH, Loc, _is_number, _kind


class _ChoiceChecks:
    """The Choice state and its rules, for `validation._Checker`."""

    def check_choice(self, state: dict, loc: Loc) -> None:
        if "Default" in state:
            self.check_target(state["Default"], (*loc, "Default"), "Default")
        if "Choices" not in state:
            self.add(
                (*loc, "Choices"), "A Choice state needs 'Choices', a non-empty array of rules", "missing"
            )
            return
        choices = state["Choices"]
        if not self.expect(choices, (*loc, "Choices"), "Choices", list, "an array of rules"):
            return
        if not choices:
            self.add((*loc, "Choices"), "'Choices' must contain at least one rule")
        for i, rule in enumerate(choices):
            self.check_rule(rule, (*loc, "Choices", i), top=True, depth=1)

    def check_rule(self, rule: object, loc: Loc, *, top: bool, depth: int) -> None:
        if not isinstance(rule, dict):
            self.add(loc, f"A choice rule must be an object, not {_kind(rule)}", "type_error")
            return
        if depth > MAX_RULE_DEPTH:
            self.add(loc, f"Choice rules are nested more than {MAX_RULE_DEPTH} levels deep")
            return
        self.check_comment(rule, loc)
        if top:
            if "Next" not in rule:
                self.add(
                    (*loc, "Next"),
                    "A rule in 'Choices' needs 'Next', the state to go to when it matches",
                    "missing",
                )
            else:
                self.check_target(rule["Next"], (*loc, "Next"), "Next")
        elif "Next" in rule:
            self.add(
                (*loc, "Next"),
                "'Next' is only allowed on the top-level rules of 'Choices', not inside 'And', 'Or' or 'Not'",
                "extra_forbidden",
            )
        unknown = [k for k in rule if k not in CHOICE_OPERATORS and k not in _RULE_STRUCTURE]
        for key in unknown:
            msg = f"Unknown choice rule field '{key}'"
            if key == "StringMatchesPath":
                msg += ": 'StringMatches' has no Path variant; give the pattern itself"
            else:
                msg += self.suggest(key, (*CHOICE_OPERATORS, *_RULE_STRUCTURE))
            self.add((*loc, key), msg, "extra_forbidden")
        combinators = [k for k in ("And", "Or", "Not") if k in rule]
        operators = [k for k in rule if k in CHOICE_OPERATORS]
        if combinators:
            extra = combinators[1:] + operators + (["Variable"] if "Variable" in rule else [])
            if extra:
                self.add(
                    loc,
                    f"A choice rule is either one of 'And', 'Or', 'Not' or a comparison; this one mixes "
                    f"'{combinators[0]}' with {', '.join(repr(e) for e in extra)}",
                )
            for key in combinators:
                self.check_combinator(key, rule[key], (*loc, key), depth)
            return
        if "Variable" not in rule:
            if operators:
                self.add(
                    (*loc, "Variable"),
                    "A comparison needs 'Variable', the path of the value to compare",
                    "missing",
                )
            elif not unknown:
                self.add(
                    loc,
                    "A choice rule needs a condition: 'Variable' with one comparison operator, or 'And', "
                    "'Or' or 'Not'",
                    "missing",
                )
        else:
            self.check_path(rule["Variable"], (*loc, "Variable"), "Variable")
            if not operators and not unknown:
                self.add(loc, "A comparison needs exactly one operator, such as 'StringEquals'", "missing")
        if len(operators) > 1:
            self.add(loc, f"A comparison takes exactly one operator; this one has {', '.join(operators)}")
        for op in operators:
            self.check_operand(op, rule[op], (*loc, op))

    def check_combinator(self, key: str, value: object, loc: Loc, depth: int) -> None:
        if key == "Not":
            if not isinstance(value, dict):
                self.add(loc, f"'Not' takes one choice rule (an object), not {_kind(value)}", "type_error")
                return
            self.check_rule(value, loc, top=False, depth=depth + 1)
            return
        if not isinstance(value, list):
            self.add(loc, f"'{key}' takes an array of choice rules, not {_kind(value)}", "type_error")
            return
        if not value:
            self.add(loc, f"'{key}' must contain at least one choice rule")
        for i, rule in enumerate(value):
            self.check_rule(rule, (*loc, i), top=False, depth=depth + 1)

    def check_operand(self, op: str, value: object, loc: Loc) -> None:
        kind = CHOICE_OPERATORS[op]
        if kind == "path":
            self.check_path(value, loc, op)
        elif kind == "string":
            self.expect(value, loc, op, str, "a string")
        elif kind == "number":
            if not _is_number(value):
                self.add(loc, f"'{op}' must be a number, not {_kind(value)}", "type_error")
        elif kind == "boolean":
            self.expect(value, loc, op, bool, "a boolean")
        else:
            self.check_timestamp(value, loc, op)
