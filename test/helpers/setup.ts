// vitest setup: reflect-metadata must load before any test imports @peculiar/x509.
import 'reflect-metadata';
