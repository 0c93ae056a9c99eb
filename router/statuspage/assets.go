package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
)

// The page's files, compiled into the binary: no build step, nothing
// fetched from anywhere but the router.
//
//go:embed assets/index.html assets/status.css assets/status.js
var assetFS embed.FS

// asset is one file served as is.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Paths of the page's assets, as the page refers to them.
const (
	PathPage  = "/status"
	PathJSON  = "/status.json"
	PathCSS   = "/status/assets/status.css"
	PathJS    = "/status/assets/status.js"
	assetsDir = "assets/"
)

// loadAssets reads the embedded files and renders the page for sites.
func loadAssets(sites []Site) (map[string]asset, error) {
	css, err := assetFS.ReadFile(assetsDir + "status.css")
	if err != nil {
		return nil, err
	}
	js, err := assetFS.ReadFile(assetsDir + "status.js")
	if err != nil {
		return nil, err
	}
	out := map[string]asset{
		PathCSS: newAsset(css, "text/css; charset=utf-8"),
		PathJS:  newAsset(js, "text/javascript; charset=utf-8"),
	}
	tmpl, err := template.ParseFS(assetFS, assetsDir+"index.html")
	if err != nil {
		return nil, err
	}
	if sites == nil {
		sites = []Site{} // "[]", not "null", for the script
	}
	var page bytes.Buffer
	// The asset versions change the assets' URLs whenever their contents
	// change, so a browser never runs an old script against a new router.
	data := struct {
		Sites           []Site
		CSSPath, JSPath string
	}{
		Sites:   sites,
		CSSPath: fmt.Sprintf("status/assets/status.css?v=%s", out[PathCSS].etag[1:9]),
		JSPath:  fmt.Sprintf("status/assets/status.js?v=%s", out[PathJS].etag[1:9]),
	}
	if err := tmpl.Execute(&page, data); err != nil {
		return nil, err
	}
	out[PathPage] = newAsset(page.Bytes(), "text/html; charset=utf-8")
	return out, nil
}
