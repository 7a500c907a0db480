package secrets

import (
	"errors"
	"sync"
	"testing"
)

func TestLazy(t *testing.T) {
	tests := []struct {
		name    string
		results []error // what each call to newClient returns, in order
		gets    int
		wantErr []bool // per get
		made    int    // how many times newClient runs
	}{
		{name: "made once, then kept", results: []error{nil}, gets: 3, wantErr: []bool{false, false, false}, made: 1},
		{name: "a failure is not kept", results: []error{errors.New("no pod"), nil}, gets: 3, wantErr: []bool{true, false, false}, made: 2},
		{name: "failures retried each time", results: []error{errors.New("a"), errors.New("b")}, gets: 2, wantErr: []bool{true, true}, made: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lazy[*int]
			made := 0
			newClient := func() (*int, error) {
				err := tt.results[made]
				made++
				if err != nil {
					return nil, err
				}
				v := made
				return &v, nil
			}
			var first *int
			for i := range tt.gets {
				v, err := l.get(newClient)
				if (err != nil) != tt.wantErr[i] {
					t.Fatalf("get %d: %v, %v; want error %v", i, v, err, tt.wantErr[i])
				}
				if err == nil {
					if first == nil {
						first = v
					} else if v != first {
						t.Fatalf("get %d returned another client", i)
					}
				}
			}
			if made != tt.made {
				t.Fatalf("newClient ran %d times; want %d", made, tt.made)
			}
		})
	}
}

// TestLazyConcurrent: lookups at once make one client.
func TestLazyConcurrent(t *testing.T) {
	var l lazy[int]
	var mu sync.Mutex
	made := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := l.get(func() (int, error) {
				mu.Lock()
				defer mu.Unlock()
				made++
				return made, nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if made != 1 {
		t.Fatalf("newClient ran %d times; want 1", made)
	}
}
