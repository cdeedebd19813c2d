#!/bin/sh
# make_passwd.sh FILE USER [USER...]: add users to a mosquitto password file; each password is
# read from the environment variable MQTT_PW_<USER> (dashes as underscores) or prompted for.
set -eu
file=$1; shift
for user in "$@"; do
  var=MQTT_PW_$(echo "$user" | tr 'a-z-' 'A-Z_')
  eval pw=\${$var:-}
  if [ ! -f "$file" ]; then touch "$file"; chmod 600 "$file"; fi
  if [ -n "$pw" ]; then mosquitto_passwd -b "$file" "$user" "$pw"; else mosquitto_passwd "$file" "$user"; fi
done
