// Reads the config's JSON Schema (pydantic's, with $defs and $ref) by dotted path,
// so bounds, allowed values and descriptions come from the one schema.

const followRef = (root, node) => {
  let current = node;
  while (current?.$ref) current = root.$defs[current.$ref.split("/").pop()];
  return current;
};

function resolve(root, node) {
  const current = followRef(root, node);
  if (current && current.anyOf) {
    const concrete = current.anyOf.find((option) => option.type !== "null");
    return { ...resolve(root, concrete), description: current.description, default: current.default, nullable: true };
  }
  return current;
}

/** The schema of the field at ``path`` ("optimizer.beta1"; list items: "model.hidden.units"). */
export function fieldSchema(root, path) {
  let node = root;
  for (const part of path.split(".")) {
    node = resolve(root, node);
    if (!node) return undefined;
    if (node.type === "array") node = resolve(root, node.items);
    node = node?.properties?.[part];
  }
  return resolve(root, node);
}

/** ``{min, max, integer}`` of a numeric field; exclusive bounds are reported as such. */
export function bounds(root, path) {
  const field = fieldSchema(root, path) ?? {};
  return {
    min: field.minimum ?? field.exclusiveMinimum,
    max: field.maximum ?? field.exclusiveMaximum,
    integer: field.type === "integer",
    description: field.description,
  };
}

export function allowedValues(root, path) {
  const field = fieldSchema(root, path);
  // data.dataset: the built-in names, or an upload's "upload:<id>" (a pattern, not a list).
  return field?.enum ?? field?.anyOf?.find((option) => option.enum)?.enum;
}

/** Defaults of one list item, e.g. a hidden layer: ``itemDefaults(schema, "model.hidden")``. */
export function itemDefaults(root, path) {
  let node = root;
  for (const part of path.split(".")) node = resolve(root, resolve(root, node)?.properties?.[part]);
  const item = resolve(root, node?.items);
  return Object.fromEntries(Object.entries(item?.properties ?? {}).map(([key, value]) => [key, value.default]));
}

/**
 * Every field a live run may change (``"x-live": true``), by dotted path (list
 * items: "model.hidden.keep_prob"), mapped to its display symbol (``x-symbol``).
 */
export function liveFields(root) {
  const found = new Map();
  const visit = (node, prefix) => {
    for (const [name, property] of Object.entries(followRef(root, node)?.properties ?? {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (property["x-live"]) found.set(path, property["x-symbol"] ?? name);
      let child = followRef(root, property);
      if (child?.type === "array") child = followRef(root, child.items);
      if (child?.properties) visit(child, path);
    }
  };
  visit(root, "");
  return found;
}
