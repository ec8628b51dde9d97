// Owned by the admin engineer: admin sign-in, live statistics, send, keys, templates,
// delivery analytics.
export function AdminApp() {
  return <main>Herald admin</main>;
}
