/**
 * One labelled select of the dashboard (`label.admin-field` > caption + `select`): a first
 * option with value '' (`none`), then one option per value, each labelled with it.
 */
export function AdminSelect(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  /** The label of the first option, value ''. */
  none: string;
  options: readonly string[];
  /** In a panel's head, beside its title. */
  inline?: boolean;
}) {
  return (
    <label className={props.inline ? 'admin-field inline' : 'admin-field'}>
      {props.label}
      <select
        name={props.name}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      >
        <option value="">{props.none}</option>
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}
