#!/bin/sh
# build() { commented; }
build() {
  go build ./...
}

function deploy {
  build
}

deploy
