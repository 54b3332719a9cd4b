interface User { id: string }

function find(users: User[], id: string): User | undefined => {
  return users.find((u) => u.id === id);
}
