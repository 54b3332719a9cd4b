# class Commented
module Shop
  class Order < ApplicationRecord
    attr_reader :total, :items

    def initialize(items)
      @items = items
    end

    def self.find_open
      where(open: true)
    end

    def paid?
      true
    end
  end

  def self.version
    "1"
  end
end

=begin
def in_block_comment
end
=end

def top_helper(x)
  x
end
