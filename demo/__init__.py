"""The bundled demo: CC0 scene photos (scenes/) that `maskwatch run --demo` renders into a clip."""
