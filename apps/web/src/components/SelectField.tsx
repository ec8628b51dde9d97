/** One labelled filter select (`label.field` > caption + `select.select`), as every view uses. */
export function SelectField<V extends string>(props: {
  label: string;
  value: V | '';
  onChange: (value: V | '') => void;
  options: readonly { value: V; label: string }[];
  /** A first option with value '' (e.g. "All rules"). */
  all?: string;
}) {
  return (
    <label className="field">
      <span>{props.label}</span>
      <select
        className="select"
        value={props.value}
        onChange={(e) => props.onChange(e.target.value as V | '')}
      >
        {props.all !== undefined && <option value="">{props.all}</option>}
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Options whose label is their value. */
export const asOptions = <V extends string>(values: readonly V[]) =>
  values.map((value) => ({ value, label: value }));
