package httpapi

import "github.com/example/spaapi/domain"

// RouteInfo is a line of the route table as the tests see it.
type RouteInfo struct {
	Path    string
	Methods []string
	Token   bool          // a valid access token is required
	Policy  domain.Policy // nil: any valid token, or anyone
}

// RouteTable is the route table of a router built with cfg.
func RouteTable(cfg Config) []RouteInfo {
	var out []RouteInfo
	for _, rt := range routes(Services{}, nil, ownRoutesFor(cfg, requestURL)) {
		out = append(out, RouteInfo{rt.path, rt.methods, rt.access.token, rt.access.policy})
	}
	return out
}
