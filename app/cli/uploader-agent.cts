#!/usr/bin/env -S node --max-semi-space-size=4
// The `uploader-agent` executable.
//
// V8's young generation capped at 4 MiB per semi-space (16 by default): the agent's garbage is
// short-lived and small (file data lives in pooled buffers), and this takes ~20 MB off the
// peak RSS at no measured cost in speed. The benchmark starts the agent with these flags too.
//
// CommonJS, because Node loads an ES module entry through libuv's thread pool, which starts
// the pool with its default 4 threads before any of the module's code runs; the pool's size
// cannot change after that. Here it is sized from the configuration first. The build bundles
// this file with the YAML parser it reads the configuration with (scripts/bundle.mjs).
//
// Then the agent itself: main.js and everything it imports, bundled into one file after the
// TypeScript build (scripts/bundle.mjs), so start-up reads one file instead of ~1,400.
import { sizeThreadPool } from './thread-pool.cjs';

sizeThreadPool();
const agent = './agent.bundle.js'; // built after tsc, so not a path tsc can check
void import(agent);
