// A form generated from a JSON Schema (the flow's input schema): strings, numbers, integers, booleans, enums,
// arrays, nested objects; required fields; validation messages shown before submit. Anything the generator
// does not understand (anyOf, $ref, untyped values) becomes a JSON text area. What the person leaves alone is
// left out of the input: an empty optional field, a checkbox nobody touched (a schema `default` fills a field
// in, and what is filled in is sent), an optional object whose fields are all left out.

import { richText } from "./display.js";

let counter = 0;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function typeOf(schema) {
  if (!schema || typeof schema !== "object") return "json";
  if (Array.isArray(schema.enum)) return "enum";
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null");
  if (!type && schema.properties) type = "object";
  if (["string", "number", "integer", "boolean", "array", "object"].includes(type)) {
    if (type === "object" && !schema.properties) return "json";
    return type;
  }
  return "json";
}

function errorSlot(id) {
  return h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
}

function wrap(id, labelText, required, schema, control, error) {
  const label = h("label", { for: id }, labelText, required ? h("span", { class: "req", "aria-hidden": "true", text: " *" }) : null);
  const help = schema.description ? h("p", { class: "help", id: `${id}-help` }, ...richText(schema.description)) : null;
  const describedBy = [help ? `${id}-help` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  if (required) control.setAttribute("aria-required", "true");
  return h("div", { class: "field" }, label, help, control, error);
}

function showError(control, error, message) {
  error.textContent = message || "";
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return message ? [{ control, message }] : [];
}

// A field: {element, value() -> value or undefined, validate() -> [{control, message}]}.
function buildField(schema, name, required) {
  const id = `f${++counter}`;
  const title = schema.title || name;
  const kind = typeOf(schema);
  if (kind === "object") return buildObject(schema, title, id, required);
  if (kind === "array") return buildArray(schema, title, id, required);
  const error = errorSlot(id);
  let control;
  if (kind === "enum") {
    control = h("select", { id, name });
    if (!required || schema.default === undefined) control.append(h("option", { value: "", text: "— choose —" }));
    schema.enum.forEach((option, index) => control.append(h("option", { value: String(index), text: JSON.stringify(option) === `"${option}"` ? option : JSON.stringify(option) })));
    if (schema.default !== undefined) {
      const index = schema.enum.findIndex((option) => JSON.stringify(option) === JSON.stringify(schema.default));
      if (index >= 0) control.value = String(index);
    }
  } else if (kind === "boolean") {
    control = h("input", { id, name, type: "checkbox", checked: schema.default === true });
    if (schema.default === undefined && !required) control.dataset.untouched = "true";
    control.addEventListener("change", () => delete control.dataset.untouched);
  } else if (kind === "number" || kind === "integer") {
    control = h("input", { id, name, type: "number", step: kind === "integer" ? "1" : "any", inputmode: "decimal" });
    if (schema.default !== undefined) control.value = String(schema.default);
  } else if (kind === "string") {
    const long = (schema.maxLength || 0) > 200 || schema.format === "textarea";
    control = h(long ? "textarea" : "input", { id, name, type: long ? undefined : "text", autocomplete: "off" });
    if (schema.default !== undefined) control.value = String(schema.default);
  } else {
    control = h("textarea", { id, name, rows: 3, class: "json", spellcheck: "false", placeholder: "JSON value" });
    if (schema.default !== undefined) control.value = JSON.stringify(schema.default, null, 2);
  }

  const value = () => {
    if (kind === "boolean") return control.dataset.untouched ? undefined : control.checked;
    const raw = control.value;
    if (raw === "") return undefined;
    if (kind === "enum") return schema.enum[Number(raw)];
    if (kind === "number" || kind === "integer") return Number(raw);
    if (kind === "string") return raw;
    return JSON.parse(raw);
  };
  const validate = () => {
    const raw = control.value;
    if (kind === "boolean") return showError(control, error, "");
    if (raw === "" || raw === undefined) {
      return showError(control, error, required ? `${title} is required.` : "");
    }
    if (kind === "number" || kind === "integer") {
      const number = Number(raw);
      if (!Number.isFinite(number)) return showError(control, error, `${title} must be a number.`);
      if (kind === "integer" && !Number.isInteger(number)) return showError(control, error, `${title} must be a whole number.`);
      if (schema.minimum !== undefined && number < schema.minimum) return showError(control, error, `${title} must be at least ${schema.minimum}.`);
      if (schema.maximum !== undefined && number > schema.maximum) return showError(control, error, `${title} must be at most ${schema.maximum}.`);
    }
    if (kind === "string") {
      if (schema.minLength !== undefined && raw.length < schema.minLength) return showError(control, error, `${title} must be at least ${schema.minLength} characters.`);
      if (schema.maxLength !== undefined && raw.length > schema.maxLength) return showError(control, error, `${title} must be at most ${schema.maxLength} characters.`);
      if (schema.pattern) {
        let ok = true;
        try {
          ok = new RegExp(schema.pattern, "u").test(raw);
        } catch {
          ok = true;
        }
        if (!ok) return showError(control, error, `${title} must match ${schema.pattern}.`);
      }
    }
    if (kind === "json") {
      try {
        JSON.parse(raw);
      } catch {
        return showError(control, error, `${title} is not valid JSON.`);
      }
    }
    return showError(control, error, "");
  };
  control.addEventListener("blur", validate);
  control.addEventListener("input", () => {
    if (control.getAttribute("aria-invalid")) validate(); // clear a message as soon as it is fixed
  });
  control.addEventListener("change", validate);
  return { element: wrap(id, title, required, schema, control, error), value, validate };
}

function buildObject(schema, title, id, isRequired = true) {
  const fieldset = h("fieldset", { id, class: "object" }, h("legend", { text: title }));
  if (schema.description) fieldset.append(h("p", { class: "help" }, ...richText(schema.description)));
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, sub]) => [name, buildField(sub, name, required.has(name))]);
  fields.forEach(([, field]) => fieldset.append(field.element));
  return {
    element: fieldset,
    value: () => {
      const out = {};
      for (const [name, field] of fields) {
        const v = field.value();
        if (v !== undefined) out[name] = v;
      }
      return isRequired || Object.keys(out).length ? out : undefined;
    },
    validate: () => fields.flatMap(([, field]) => field.validate()),
  };
}

function buildArray(schema, title, id, required) {
  const items = [];
  const list = h("div", { class: "array-items" });
  const error = errorSlot(id);
  const fieldset = h("fieldset", { id, class: "array", "aria-describedby": `${id}-error` }, h("legend", { text: `${title}${required ? " *" : ""}` }));
  if (schema.description) fieldset.append(h("p", { class: "help" }, ...richText(schema.description)));
  const add = h("button", { type: "button", class: "secondary", text: `Add ${schema.items && schema.items.title ? schema.items.title : "item"}` });
  const addItem = (initial) => {
    const itemSchema = { ...(schema.items || {}) };
    if (initial !== undefined) itemSchema.default = initial;
    const field = buildField(itemSchema, `${title} item ${items.length + 1}`, true);
    const remove = h("button", { type: "button", class: "secondary small", text: "Remove" });
    remove.setAttribute("aria-label", `Remove ${title} item`);
    const row = h("div", { class: "array-item" }, field.element, remove);
    const entry = { field, row };
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(entry), 1);
      row.remove();
      add.focus();
    });
    items.push(entry);
    list.append(row);
    return field;
  };
  add.addEventListener("click", () => {
    addItem();
    const input = list.lastElementChild.querySelector("input, select, textarea");
    if (input) input.focus();
  });
  (Array.isArray(schema.default) ? schema.default : []).forEach((value) => addItem(value));
  fieldset.append(list, add, error);
  return {
    element: fieldset,
    value: () => (items.length || required ? items.map((entry) => entry.field.value()) : undefined),
    validate: () => {
      const problems = items.flatMap((entry) => entry.field.validate());
      let message = "";
      if (schema.minItems !== undefined && items.length < schema.minItems) message = `${title} needs at least ${schema.minItems} item(s).`;
      if (schema.maxItems !== undefined && items.length > schema.maxItems) message = `${title} takes at most ${schema.maxItems} item(s).`;
      error.textContent = message;
      return message ? [...problems, { control: add, message }] : problems;
    },
  };
}

// The whole input form for `schema`; the returned object has `element`, `value()` and `validate()`.
export function buildInputForm(schema) {
  const root = schema && typeof schema === "object" ? schema : {};
  if (typeOf(root) === "object") {
    const field = buildObject(root, root.title || "Input", `f${++counter}`);
    field.element.classList.add("root");
    return field;
  }
  return buildField({ ...root, title: "Input (JSON)", default: root.default ?? {} }, "input", true);
}
