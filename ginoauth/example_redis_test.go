package ginoauth_test

import (
	"log"
	"os"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/permissions"
)

// A production set-up: tokens in Redis (any redis.UniversalClient: one
// node, Sentinel or Cluster), a secret key shared by every instance, the
// endpoints under /o/ and an API whose group needs "read" for safe methods
// and "write" for the others.
func ExampleNew_redis() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	st, err := redisstore.New(rdb, redisstore.WithPrefix("myapp:oauth:"))
	if err != nil {
		log.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store:     st,
		SecretKey: []byte(os.Getenv("OAUTH_SECRET_KEY")), // >= 32 bytes
		Scopes:    map[string]string{"read": "Read your snippets", "write": "Change your snippets"},
	})
	if err != nil {
		log.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	api := r.Group("/api", p.Middleware(), permissions.Require(permissions.TokenHasReadWriteScope()))
	api.GET("/snippets/", func(c *gin.Context) { c.JSON(200, []string{}) })
	_ = r // r.Run(":8000")
}
