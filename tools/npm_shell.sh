#!/bin/sh
# The shell that `npx` runs its command with in this directory (.npmrc sets
# it). npm runs `<shell> -c "<command>"` and passes a SIGTERM or SIGINT sent
# to its own PID, as a supervisor sends it, to that shell alone. Debian's sh
# passes neither on: it dies of SIGTERM, leaving `deno task` and merhaba
# serving, and holds SIGINT until its child exits. So a simple command
# replaces this shell (exec) and receives npm's signals itself; a command
# with shell syntax in it runs under sh as npm would run it.
if [ "$1" != "-c" ] || [ "$#" -ne 2 ]; then
  exec /bin/sh "$@"
fi
case $2 in
*[\;\&\|\<\>\(\)\`\$\\]* | *"
"*)
  exec /bin/sh -c "$2"
  ;;
esac
exec /bin/sh -c "exec $2"
