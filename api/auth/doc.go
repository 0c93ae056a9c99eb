// Package auth is cellpay's trust vocabulary, a leaf every layer imports
// (the Raft transport, the nodes' services, the routers, the tools):
//
//   - Identity and Role: who a certificate names, as a URI SAN
//     cellpay://<role>/<name> (node, router, operator, client);
//   - certs.go: the certificate authority on disk and the certificates it
//     issues (ECDSA P-256, keys 0600), as `cellpay cert` writes them;
//   - tlsconfig.go: mutual-TLS configurations from a certs directory, with
//     a Reloader (SIGHUP) so that rotated certificates take effect for new
//     connections without a restart;
//   - Methods: the one table of which roles may call each gRPC method, and
//     the Authorizer whose interceptors (and HTTP wrapper) enforce it,
//     logging and counting every refusal (cellpay_auth_refused_total).
//
// Callers' duties: install an Authorizer's ServerOptions on every gRPC
// server and wrap every HTTP surface; give every new RPC its roles in
// Methods (a test that calls every registered method fails otherwise);
// check inside a handler that a peer's claimed identity (a Raft sender's
// id, a gossip member's name) is the one in its certificate; set Insecure
// only when an operator asked for --insecure, never in production.
package auth
