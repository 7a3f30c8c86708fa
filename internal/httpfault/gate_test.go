package httpfault

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

func TestGate_HoldsUntilTheLastArrives(t *testing.T) {
	var g Gate
	if !g.Wait(context.Background(), nil) {
		t.Fatal("a gate without Hold held a request")
	}
	g.Hold(3)
	var passed sync.WaitGroup
	done := make(chan bool, 3)
	for range 2 {
		passed.Go(func() { done <- g.Wait(context.Background(), nil) })
	}
	select {
	case <-done:
		t.Fatal("a request went on before the third arrived")
	default:
	}
	if !g.Wait(context.Background(), nil) {
		t.Fatal("the third request was not let through")
	}
	passed.Wait()
	for range 2 {
		if !<-done {
			t.Fatal("a held request was not let through")
		}
	}
	if !g.Wait(context.Background(), nil) {
		t.Fatal("a request after the release was held")
	}
}

func TestGate_GivingUpAndReleasing(t *testing.T) {
	var g Gate
	g.Hold(2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if g.Wait(ctx, nil) {
		t.Fatal("a request whose client gave up was answered")
	}
	closing := make(chan struct{})
	close(closing)
	g.Hold(2)
	if g.Wait(context.Background(), closing) {
		t.Fatal("a request was answered while the server closed")
	}
	g.Hold(2)
	done := make(chan bool)
	go func() { done <- g.Wait(context.Background(), nil) }()
	for {
		g.mu.Lock()
		n := g.n
		g.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	g.Hold(0)
	if !<-done {
		t.Fatal("Hold(0) did not release the held request")
	}
}
