package keys

import "container/list"

// lru is a bounded map that forgets its least recently used entry first and tells onEvict about
// every entry that leaves it (evicted, replaced, deleted or cleared), so key bytes can be wiped.
// Not safe for concurrent use: DataKeyCache holds its mutex around every call.
type lru[V any] struct {
	max     int
	order   *list.List // front: most recently used
	items   map[string]*list.Element
	onEvict func(V)
}

type lruItem[V any] struct {
	key   string
	value V
}

func newLRU[V any](max int, onEvict func(V)) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: map[string]*list.Element{}, onEvict: onEvict}
}

func (c *lru[V]) get(key string) (V, bool) {
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem[V]).value, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) set(key string, value V) {
	if el, ok := c.items[key]; ok {
		old := el.Value.(*lruItem[V]).value
		el.Value.(*lruItem[V]).value = value
		c.order.MoveToFront(el)
		c.onEvict(old)
		return
	}
	c.items[key] = c.order.PushFront(&lruItem[V]{key: key, value: value})
	for c.order.Len() > c.max {
		c.removeElement(c.order.Back())
	}
}

func (c *lru[V]) delete(key string) {
	if el, ok := c.items[key]; ok {
		c.removeElement(el)
	}
}

func (c *lru[V]) removeElement(el *list.Element) {
	item := c.order.Remove(el).(*lruItem[V])
	delete(c.items, item.key)
	c.onEvict(item.value)
}

func (c *lru[V]) clear() {
	for c.order.Len() > 0 {
		c.removeElement(c.order.Back())
	}
}

func (c *lru[V]) len() int { return c.order.Len() }

// removeIf drops (and hands to onEvict) every entry for which stale is true.
func (c *lru[V]) removeIf(stale func(V) bool) {
	for el := c.order.Back(); el != nil; {
		prev := el.Prev()
		if stale(el.Value.(*lruItem[V]).value) {
			c.removeElement(el)
		}
		el = prev
	}
}
