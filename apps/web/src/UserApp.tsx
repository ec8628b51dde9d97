// Owned by the user-app engineer: sign-in, the shell (header, bell, connection status),
// inbox, event browser and live demos.
export function UserApp() {
  return <main>Herald</main>;
}
