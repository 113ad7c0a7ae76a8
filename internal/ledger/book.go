package ledger

import (
	"sort"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/money"
)

// Book is an in-memory ledger state: accounts and their balances. It is a
// View, the reference model that storage is tested against, and the state
// of the simulator. A Book is not safe for concurrent use.
type Book struct {
	accounts map[string]Account
	balances map[balanceKey]Balance
}

type balanceKey struct {
	account string
	asset   money.Asset
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{accounts: map[string]Account{}, balances: map[balanceKey]Balance{}}
}

// Open adds a valid account with no balances.
func (b *Book) Open(a Account) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if _, ok := b.accounts[a.ID]; ok {
		return fault.New(CodeInvalidAccount, "Account %s already exists.", a.ID).With("account_id", a.ID)
	}
	b.accounts[a.ID] = a
	return nil
}

// SetStatus freezes, closes or reactivates an account.
func (b *Book) SetStatus(id string, s Status) error {
	a, ok := b.accounts[id]
	if !ok {
		return fault.New(CodeAccountNotFound, "Account %s does not exist.", id).With("account_id", id)
	}
	a.Status = s
	if err := a.Validate(); err != nil {
		return err
	}
	b.accounts[id] = a
	return nil
}

// Account returns the account with the given ID.
func (b *Book) Account(id string) (Account, bool) {
	a, ok := b.accounts[id]
	return a, ok
}

// Balance returns the balance of account in asset; zero if it has none.
func (b *Book) Balance(account string, asset money.Asset) Balance {
	if bal, ok := b.balances[balanceKey{account, asset}]; ok {
		return bal
	}
	return Balance{Account: account, Asset: asset}
}

// Commit stores balances returned by Apply.
func (b *Book) Commit(bs []Balance) {
	for _, bal := range bs {
		b.balances[balanceKey{bal.Account, bal.Asset}] = bal
	}
}

// Accounts returns every account, sorted by ID.
func (b *Book) Accounts() []Account {
	out := make([]Account, 0, len(b.accounts))
	for _, a := range b.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Balances returns every balance, sorted by account then asset code.
func (b *Book) Balances() []Balance {
	out := make([]Balance, 0, len(b.balances))
	for _, bal := range b.balances {
		out = append(out, bal)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Asset.Code() < out[j].Asset.Code()
	})
	return out
}
