// Command gooauth2 is the baseline of docs/benchmarks.md: the stack Gin
// users glue together today (go-oauth2/oauth2 v4 + go-oauth2/gin-server +
// go-oauth2/redis), serving the same routes the toolkit's bench mode
// serves, so wrk measures both in one run. It lives in its own module so
// the toolkit's go.mod never depends on that stack.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	ginserver "github.com/go-oauth2/gin-server"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/store"
	oredis "github.com/go-oauth2/redis/v4"
	"github.com/go-redis/redis/v8"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	redisDB := flag.Int("db", 0, "Redis database")
	flag.Parse()

	manager := manage.NewDefaultManager()
	manager.MapTokenStorage(oredis.NewRedisStore(&redis.Options{Addr: *redisAddr, DB: *redisDB}, "bench-gooauth2:"))
	clients := store.NewClientStore()
	_ = clients.Set("bench", &models.Client{ID: "bench", Secret: "bench-secret", Domain: "http://localhost"})
	manager.MapClientStorage(clients)
	ginserver.InitServer(manager)
	ginserver.SetAllowGetAccessRequest(false)
	ginserver.SetClientInfoHandler(func(r *http.Request) (string, string, error) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.FormValue("client_id"), r.FormValue("client_secret")
		}
		return id, secret, nil
	})

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/o/token/", ginserver.HandleTokenRequest)
	hello := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"hello": "world"}) }
	r.GET("/bench/open", hello)
	r.GET("/bench/protected", ginserver.HandleTokenVerify(), hello)
	log.Printf("go-oauth2 baseline on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, r))
}
